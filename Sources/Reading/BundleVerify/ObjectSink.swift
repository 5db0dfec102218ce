import Support

/// Receives the verified contents of a bundle, object by object, in pack order.
/// Nothing it receives may be trusted until `BundleReader.readObjects` returns without error.
///
/// `object` is the item's number (`BundleIndex.number(of:)`): objects first, then patches.
public protocol ObjectSink: AnyObject {
    func begin(object: Int, size: Int64) throws
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func end(object: Int, sha256: SHA256Digest) throws
}

/// A sink that keeps nothing: for verifying a bundle without unpacking it.
public final class DiscardingSink: ObjectSink {
    public init() {}
    public func begin(object: Int, size: Int64) throws {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws {}
    public func end(object: Int, sha256: SHA256Digest) throws {}
}

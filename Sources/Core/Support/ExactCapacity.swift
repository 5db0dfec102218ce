extension Array {
    /// A copy with room for exactly its elements. An array grown by appending keeps up to twice
    /// the room it needs: for a listing of a large tree, tens of MB held to the end of the run.
    public func withExactCapacity() -> [Element] { withUnsafeBufferPointer { Array($0) } }
}

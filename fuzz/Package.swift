// swift-tools-version:5.4
import PackageDescription

// libFuzzer targets for the parsers of hostile input, built and run by scripts/fuzz with
// `-sanitize=fuzzer,address -parse-as-library`. libFuzzer supplies `main`, so these executables
// cannot link in a normal build: they live in this package of their own, which uses the main
// package by path (its FuzzHarness library holds what each target does; its tests replay what
// was found). Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable target's
// `main` (so tests can link it), which clashes with libFuzzer's; a 5.4 target with a main.swift
// is linked as it is, as swift-protobuf's FuzzTesting does.

let targets = ["manifest", "spec", "index", "archive", "packs", "records"]

let package = Package(
    name: "airgap-fuzz",
    dependencies: [.package(name: "airgap-bundles", path: "..")],
    targets: targets.map { name in
        .target(name: "fuzz-\(name)", dependencies: [.product(name: "FuzzHarness", package: "airgap-bundles")])
    }
)

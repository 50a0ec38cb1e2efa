// swift-tools-version:5.9
// The Qtum Lightning SDK for iOS (and macOS): the generated Swift bindings over the Rust
// library, shipped as an xcframework. scripts/build-ios.sh builds
// QtumLightningFFI.xcframework (device arm64; simulator arm64 + x86_64) and generates
// Sources/QtumLightning/QtumLightning.swift; both are release artifacts, not committed.
import PackageDescription

let package = Package(
    name: "QtumLightning",
    platforms: [
        .iOS(.v15),
    ],
    products: [
        .library(name: "QtumLightning", targets: ["QtumLightning"]),
    ],
    targets: [
        // Static libqtum_lightning.a per slice, with QtumLightningFFI.h and its module map.
        .binaryTarget(
            name: "QtumLightningFFI",
            path: "QtumLightningFFI.xcframework"
        ),
        // The generated Swift (`import QtumLightningFFI`).
        .target(
            name: "QtumLightning",
            dependencies: ["QtumLightningFFI"],
            path: "Sources/QtumLightning",
            exclude: ["README.md"]
        ),
    ]
)

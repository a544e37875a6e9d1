import Foundation
import PackagePlugin

/// Generates Swift from the interface XML in `dbus/` (org.example.Bits.*.xml) at build time,
/// with the `bits-interface-codegen` tool: for `BitsCore` the contract table (names, argument
/// and property signatures, property access), for any other target (`BitsBus`) the XML texts
/// themselves, which the daemon serves as its introspection data.
@main
struct InterfaceCodegen: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "dbus")
        let interfaces = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasPrefix("org.example.Bits.") && $0.pathExtension == "xml" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let mode = target.name == "BitsCore" ? "contract" : "embed"
        let output = context.pluginWorkDirectoryURL.appending(path: mode == "contract" ? "GeneratedContract.swift" : "GeneratedInterfaces.swift")
        return [.buildCommand(displayName: "Generating \(output.lastPathComponent) from dbus/*.xml",
                              executable: try context.tool(named: "bits-interface-codegen").url,
                              arguments: [mode, output.path] + interfaces.map(\.path),
                              inputFiles: interfaces, outputFiles: [output])]
    }
}

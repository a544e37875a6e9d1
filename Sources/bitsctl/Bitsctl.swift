import ArgumentParser

/// `bitsctl`: the command-line client of bitsd (the Linux `bitsadmin` / `Start-BitsTransfer`).
@main
struct Bitsctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bitsctl",
        abstract: "Control background transfers of the bitsd service (org.example.Bits).",
        discussion: """
        Jobs are named by GUID, by object path, or by display name when exactly one of your \
        jobs has it. Read commands print human text, or JSON with --json.

        EXIT STATUS
          0    success
          1    the service refused or failed the operation, or the transfer ended in error
          2    no such job or file (or a display name that several jobs share)
          3    access denied (not the owner or an administrator; authorization refused)
          4    the service or the bus is unavailable
          64   usage error (bad arguments)
          130  interrupted (Ctrl-C)
        """,
        version: "1.0.0",
        subcommands: [
            Transfer.self, Create.self, AddFile.self, AddFiles.self, AddFileWithRanges.self,
            Resume.self, Suspend.self, Cancel.self, Complete.self, TakeOwnership.self, Reset.self,
            Wait.self, Info.self, ListJobs.self, ListFiles.self, Monitor.self, GetProperty.self, SetProperty.self,
            SetCredentials.self, RemoveCredentials.self, SetClientCertificate.self, RemoveClientCertificate.self,
            ReplaceRemotePrefix.self, ReplyData.self, Version.self,
        ])
}

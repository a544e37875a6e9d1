// The contract's value types an app needs alongside BitsClient, so `import BitsClient` is enough.
@_exported import enum BitsCore.JobType
@_exported import enum BitsCore.JobState
@_exported import enum BitsCore.JobPriority
@_exported import enum BitsCore.ErrorContext
@_exported import enum BitsCore.JobProperty
@_exported import enum BitsCore.FileProperty
@_exported import enum BitsCore.ManagerProperty
@_exported import enum BitsDBus.Variant
@_exported import enum BitsDBus.BusAddress

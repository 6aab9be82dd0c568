// Stands in for the Long library in the CLI's bundles. protobufjs 7 requires it directly when
// present; the CLI decodes int64 fields as Numbers (as the services' loader options do), so
// protobufjs falls back to its own LongBits and the 50 KB library is not parsed on every command.
module.exports = null;

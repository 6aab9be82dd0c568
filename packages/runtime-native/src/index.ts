/**
 * runtime-native: the OCI runtime seam. TypeScript builds and validates OCI specs; the C
 * runtime (ctl-runtime) and shim (ctl-shim) execute them. The runtime issue fills this in.
 */
export const OCI_VERSION = '1.1.0';

/** The transfer API over the light wire client, for the command line: requests in, progress out. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import type { ExportRequest } from '@ctl/proto/generated/ctl/transfer/v1/ExportRequest';
import type { ImportRequest } from '@ctl/proto/generated/ctl/transfer/v1/ImportRequest';
import type { Progress__Output } from '@ctl/proto/generated/ctl/transfer/v1/Progress';

const FILE = 'ctl/transfer/v1/transfer';
const SERVICE = 'ctl.transfer.v1.Transfer';

export type TransferProgress = Progress__Output;

export class TransferClient extends NamespacedClient {
  import(request: ImportRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<ImportRequest, Progress__Output>(FILE, SERVICE, 'Import'), request, onProgress, this.options);
  }

  export(request: ExportRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<ExportRequest, Progress__Output>(FILE, SERVICE, 'Export'), request, onProgress, this.options);
  }
}

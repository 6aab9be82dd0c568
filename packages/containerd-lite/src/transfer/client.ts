/** The transfer API over the light wire client, for the command line: requests in, progress out. */
import { namespaceHeaders } from '@ctl/proto/namespace';
import { type WireClient, wireMethod } from '@ctl/proto/wire';
import type { ExportRequest } from '@ctl/proto/generated/ctl/transfer/v1/ExportRequest';
import type { ImportRequest } from '@ctl/proto/generated/ctl/transfer/v1/ImportRequest';
import type { Progress__Output } from '@ctl/proto/generated/ctl/transfer/v1/Progress';

const FILE = 'ctl/transfer/v1/transfer';
const SERVICE = 'ctl.transfer.v1.Transfer';

export type TransferProgress = Progress__Output;

export class TransferClient {
  constructor(
    private readonly wire: WireClient,
    private readonly namespace: string,
  ) {}

  import(request: ImportRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<ImportRequest, Progress__Output>(FILE, SERVICE, 'Import'), request, onProgress, { headers: namespaceHeaders(this.namespace) });
  }

  export(request: ExportRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<ExportRequest, Progress__Output>(FILE, SERVICE, 'Export'), request, onProgress, { headers: namespaceHeaders(this.namespace) });
  }
}

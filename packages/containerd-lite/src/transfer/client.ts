/** The transfer API over the light wire client, for the command line: requests in, progress out. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import type { ExportRequest } from '@ctl/proto/generated/ctl/transfer/v1/ExportRequest';
import type { ImportRequest } from '@ctl/proto/generated/ctl/transfer/v1/ImportRequest';
import type { Progress__Output } from '@ctl/proto/generated/ctl/transfer/v1/Progress';
import type { PullRequest } from '@ctl/proto/generated/ctl/transfer/v1/PullRequest';
import type { PushRequest } from '@ctl/proto/generated/ctl/transfer/v1/PushRequest';

const FILE = 'ctl/transfer/v1/transfer';
const SERVICE = 'ctl.transfer.v1.Transfer';

export type TransferProgress = Progress__Output;

export class TransferClient extends NamespacedClient {
  import(request: ImportRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<ImportRequest, Progress__Output>(FILE, SERVICE, 'Import'), request, onProgress, this.options);
  }

  pull(request: PullRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<PullRequest, Progress__Output>(FILE, SERVICE, 'Pull'), request, onProgress, this.options);
  }

  push(request: PushRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<PushRequest, Progress__Output>(FILE, SERVICE, 'Push'), request, onProgress, this.options);
  }

  export(request: ExportRequest, onProgress: (p: TransferProgress) => void): Promise<void> {
    return this.wire.serverStream(wireMethod<ExportRequest, Progress__Output>(FILE, SERVICE, 'Export'), request, onProgress, this.options);
  }
}

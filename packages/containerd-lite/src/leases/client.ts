/** The leases API over the light wire client; a caller cannot tell it from the local store. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import { type WireLease, leaseFromWire } from './convert';
import type { DeleteLeaseOptions, Lease, Leases, Resource } from './leases';
export { LEASE_HEADER } from './leases';

const FILE = 'containerd/services/leases/v1/leases';
const SERVICE = 'containerd.services.leases.v1.Leases';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

export class LeasesClient extends NamespacedClient implements Leases {
  async create(options: { id?: string; labels?: Record<string, string> } = {}): Promise<Lease> {
    const res = await this.wire.unary(
      method<object, { lease: WireLease }>('Create'),
      { id: options.id ?? '', labels: options.labels ?? {} },
      this.options,
    );
    return leaseFromWire(res.lease);
  }

  async delete(id: string, options: DeleteLeaseOptions = {}): Promise<void> {
    await this.wire.unary(method<object, object>('Delete'), { id, sync: options.sync ?? false }, this.options);
  }

  async list(filters: string[] = []): Promise<Lease[]> {
    const res = await this.wire.unary(method<object, { leases: WireLease[] }>('List'), { filters }, this.options);
    return res.leases.map(leaseFromWire);
  }

  async addResource(id: string, resource: Resource): Promise<void> {
    await this.wire.unary(method<object, object>('AddResource'), { id, resource }, this.options);
  }

  async deleteResource(id: string, resource: Resource): Promise<void> {
    await this.wire.unary(method<object, object>('DeleteResource'), { id, resource }, this.options);
  }

  async listResources(id: string): Promise<Resource[]> {
    const res = await this.wire.unary(method<object, { resources: Resource[] }>('ListResources'), { id }, this.options);
    return res.resources.map((r) => ({ id: r.id, type: r.type }));
  }
}

/** The network resolver, for the service (the resolv.conf and hosts helpers are in the client entry). */
export { type NameLookup, LOCAL_TTL_SECONDS } from './answer';
export { type Upstream, type UpstreamSpec } from './forward';
export { type Resolver, type ResolverOptions, startResolver } from './resolver';

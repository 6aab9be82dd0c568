/** Registries (OCI distribution API): pull into content and image records, push from them. */
export { type Challenge, type Credentials, Authorizer, parseChallenges } from './auth';
export { type RegistryOptions, Registry, isLocalhost, registryHost } from './registry';
export { type PullOptions, type PullProgress, type PullResult, pullImage } from './pull';
export { type PushOptions, type PushProgress, pushImage } from './push';

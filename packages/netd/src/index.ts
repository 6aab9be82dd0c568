export { createNetdService } from './service';
export { SCHEMA } from './layout';

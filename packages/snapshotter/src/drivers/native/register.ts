import type { DriverRegistration } from '../driver';
import { loopSizedLayers } from '../sized-loop';
import { NativeDriver } from './native';

export const nativeDriver: DriverRegistration = {
  name: 'native',
  async unsupported() {
    return undefined;
  },
  async open({ root }) {
    return new NativeDriver(root, loopSizedLayers());
  },
};

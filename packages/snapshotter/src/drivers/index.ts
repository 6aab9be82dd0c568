/** The drivers this build ships, registered by name. */
import { registerDriver, registeredDrivers } from '../registry';
import { btrfsDriver } from './btrfs/register';
import { nativeDriver } from './native/register';
import { overlayfsDriver } from './overlayfs/register';

if (registeredDrivers().length === 0) {
  registerDriver(overlayfsDriver);
  registerDriver(nativeDriver);
  registerDriver(btrfsDriver);
}

import { nativeDriver } from '../src/drivers/native/register';
import { overlayfsDriver } from '../src/drivers/overlayfs/register';
import { describeConformance } from './conformance';
import { localSubject } from './subjects';

describeConformance('overlayfs driver', localSubject(overlayfsDriver));
describeConformance('native driver', localSubject(nativeDriver));

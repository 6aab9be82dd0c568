import { runServiceBinary } from '@ctl/proto';
import { createSnapshotterService } from './service';

void runServiceBinary({
  command: 'ctl-snapshotter',
  service: 'snapshotter',
  summary: "Serves containerd's snapshots API (containerd.services.snapshots.v1) on a unix socket.",
  flags: [
    {
      name: 'proxy-name',
      value: 'NAME=DRIVER',
      env: 'CTL_SNAPSHOTTER_NAMES',
      help: 'requests naming snapshotter NAME reach DRIVER; repeatable',
    },
  ],
  details: `Drivers: which load and the default come from ROOT/snapshotter/config.json
({"drivers": [...], "default": "overlayfs", "names": {"mysnap": "btrfs"}}) or
CTL_SNAPSHOTTER_DRIVERS and CTL_SNAPSHOTTER_DEFAULT. The snapshotter name of a request
(containerd sends the name of its [proxy_plugins.NAME] entry) reaches:
  DRIVER, ctl-DRIVER      that driver (an error when it is not loaded)
  "" and ctl              the default driver
  a mapped NAME           its driver (--proxy-name, or "names" in config.json)
  any other name          the default driver
So containerd's [proxy_plugins.mysnap] works as it is. containerd's built-in overlayfs and
native plugins hold those plain names: give a proxy plugin ctl-DRIVER or a name of its own.`,
  factory: createSnapshotterService,
});

import { openDatabase } from '@ctl/proto';
import { tempInstance } from '@ctl/proto/testing';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContentStore } from '../src/content/store';
import { SCHEMA } from '../src/layout';
import { describeContentConformance } from './content-conformance';

describeContentConformance('local store', async () => {
  const tmp = tempInstance('ctl-content-');
  const db = await openDatabase(join(tmp.root, 'meta'), SCHEMA);
  const store = await ContentStore.open(db, join(tmp.root, 'content'));
  return {
    content: (ns = 'default') => store.namespace(ns),
    blobFiles: () => readdirSync(store.blobDir()).sort(),
    teardown: async () => {
      await db.close();
      tmp.remove();
    },
  };
});

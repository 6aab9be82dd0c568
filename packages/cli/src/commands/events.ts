/** ctl events: the events service's stream, with docker's --filter keys as containerd filters. */
import { UsageError } from '../args';
import { parseOptions, timeOption } from '../options';
import type { Command } from '../command';
import { lite, withClients } from '../clients';
import { type Fields, template } from '../template';

const EVENT_NAMES: Record<string, string> = {
  die: 'exit',
  destroy: 'delete',
  pause: 'paused',
  unpause: 'resumed',
  exec_create: 'exec-added',
  exec_start: 'exec-started',
};
const TYPE_TOPICS: Record<string, string> = {
  container: 'containers',
  image: 'images',
  task: 'tasks',
  namespace: 'namespaces',
  content: 'content',
  snapshot: 'snapshot',
};
/** events' fields for --format: docker's Type, Action and ID, and containerd's topic, namespace and event body. */
const EVENT_FIELDS: Fields = {
  Time: 'TIME',
  Type: 'TYPE',
  Action: 'ACTION',
  ID: 'ID',
  Topic: 'TOPIC',
  Namespace: 'NAMESPACE',
  Event: 'EVENT',
};

/** An event under those names: /tasks/exit → Type task, Action exit; ID the container's (or the event's own name or id). */
export function eventRow(time: Date, topic: string, namespace: string, event: Record<string, unknown>): Record<string, unknown> {
  const [kind = '', ...rest] = topic.replace(/^\//, '').split('/');
  const type = Object.entries(TYPE_TOPICS).find(([, t]) => t === kind)?.[0] ?? kind;
  const id = event.containerId ?? event.id ?? event.name ?? event.digest ?? event.key ?? '';
  return { Time: time.toISOString(), Type: type, Action: rest.join('/'), ID: String(id), Topic: topic, Namespace: namespace, Event: event };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]]/g, '[$&]');

/**
 * docker's --filter key=value as containerd filters: values of one key are OR-ed, keys AND-ed,
 * so the result is every combination, each one containerd filter (filters are OR-ed).
 */
export function eventFilters(namespace: string, given: readonly string[]): string[] {
  const byKey = new Map<string, string[]>();
  for (const f of given) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`--filter ${f}: expected KEY=VALUE`);
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    let selector: string;
    switch (key) {
      case 'type':
        if (!TYPE_TOPICS[value]) throw new UsageError(`--filter type=${value}: one of ${Object.keys(TYPE_TOPICS).join(', ')}`);
        selector = `topic~="^/${TYPE_TOPICS[value]}/"`;
        break;
      case 'event':
        selector = `topic~="/${escape(EVENT_NAMES[value] ?? value)}$"`;
        break;
      case 'container':
        selector = `event.container_id==${JSON.stringify(value)}`;
        break;
      case 'topic':
        selector = `topic==${JSON.stringify(value)}`;
        break;
      default:
        throw new UsageError(`--filter ${key}: one of type, event, container, topic`);
    }
    byKey.set(key, [...(byKey.get(key) ?? []), selector]);
  }
  let combos: string[][] = [[`namespace==${JSON.stringify(namespace)}`]];
  for (const selectors of byKey.values()) combos = combos.flatMap((c) => selectors.map((s) => [...c, s]));
  // Containers' own events name the container `id`, tasks' `container_id`: a container filter takes either.
  return combos.flatMap((c) =>
    c.some((s) => s.startsWith('event.container_id=='))
      ? [c.join(','), c.map((s) => s.replace(/^event\.container_id==/, 'event.id==')).join(',')]
      : [c.join(',')],
  );
}

const events: Command = {
  summary: 'Print events as they happen',
  usage: `Usage: ctl events [--filter KEY=VALUE]... [--until TIME] [--format json]

Prints TIME TOPIC NAMESPACE FIELDS for each event of this namespace until Ctrl-C.
  -f, --filter type=container|image|task|namespace|content|snapshot
               event=create|start|exit|delete|paused|resumed|oom|… (docker's die, destroy,
               pause, unpause too)   container=ID   topic=/tasks/exit
               (values of one key: any; different keys: all)
  --until TIME stop at TIME (10s, 5m from now, or RFC 3339)
  --format json  one JSON object per line
  --format FORMAT  docker's Go-template subset ({{.Field}}, {{json .}}, {{json .Field}}), one line per event;
               fields: ${Object.keys(EVENT_FIELDS).join(' ')}
The daemon keeps no history: only events from now on are shown (no --since).
`,
  async run(argv, context) {
    const { values, positionals } = parseOptions(argv, {
      filter: { type: 'string', short: 'f', multiple: true },
      until: { type: 'string' },
      since: { type: 'string' },
      format: { type: 'string' },
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.since !== undefined)
      throw new UsageError('--since: the daemon keeps no history of events; only events from now on can be shown');
    const filters = eventFilters(context.namespace, values.filter ?? []);
    const format = template(values.format, EVENT_FIELDS);
    if (format?.table) throw new UsageError('--format table: events are a stream, not a table');
    const until = values.until !== undefined ? timeOption(values.until, '--until', 1, '10s, 5m') : undefined;
    return withClients(context, async (a) => {
      const c = lite();
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const timer = until !== undefined ? setTimeout(onSignal, Math.max(until - Date.now(), 0)) : undefined;
      try {
        await a.events.subscribe(
          filters,
          (envelope) => {
            let fields: Record<string, unknown> = {};
            try {
              fields = c.decodeEvent(envelope.event).fields;
            } catch {
              fields = { typeUrl: envelope.event.typeUrl };
            }
            if (format) context.out(format.render([eventRow(envelope.timestamp, envelope.topic, envelope.namespace, fields)]));
            else if (values.format === 'json')
              context.out(
                `${JSON.stringify({ time: envelope.timestamp, topic: envelope.topic, namespace: envelope.namespace, event: fields })}\n`,
              );
            else context.out(`${envelope.timestamp.toISOString()} ${envelope.topic} ${envelope.namespace} ${JSON.stringify(fields)}\n`);
          },
          { signal: stop.signal },
        );
        return 0;
      } finally {
        clearTimeout(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  },
};

export const commands: Record<string, Command> = { events };

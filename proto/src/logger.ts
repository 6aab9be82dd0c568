/** Structured JSON logs (one object per line on stderr), the same shape for every service. */
import type * as winston from 'winston';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogMeta = Record<string, unknown>;

/** What services log through: one method per level, and the level records must reach. */
export interface Logger {
  readonly level: LogLevel;
  error(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
}

function winstonLogger(service: string, level: LogLevel): winston.Logger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const w = require('winston') as typeof winston;
  return w.createLogger({
    level,
    defaultMeta: { service },
    format: w.format.combine(w.format.timestamp(), w.format.errors({ stack: false }), w.format.json()),
    transports: [new w.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  });
}

export function createLogger(service: string, level: LogLevel = 'info'): Logger {
  // winston and its formats cost a service's start some 60 ms of CPU (a tenth of it), and a
  // service at level warn may never log: winston loads with the first record the level passes.
  let sink: winston.Logger | undefined;
  const rank = LOG_LEVELS.indexOf(level);
  const at =
    (l: LogLevel) =>
    (message: string, meta?: LogMeta): void => {
      if (LOG_LEVELS.indexOf(l) > rank) return;
      sink ??= winstonLogger(service, level);
      sink.log(l, message, meta);
    };
  return { level, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** A logger for one service of a process that hosts several (ctl daemon), at the parent's level. */
export function childLogger(parent: Logger, service: string): Logger {
  return createLogger(service, parent.level);
}

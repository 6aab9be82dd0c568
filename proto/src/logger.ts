/** Structured JSON logs (one object per line on stderr), the same shape for every service. */
import type { Logger } from 'winston';

export type { Logger };

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(service: string, level: LogLevel = 'info'): Logger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const winston = require('winston') as typeof import('winston');
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  });
}

/** A logger for one service of a process that hosts several (ctl daemon), at the parent's level. */
export function childLogger(parent: Logger, service: string): Logger {
  return createLogger(service, parent.level as LogLevel);
}

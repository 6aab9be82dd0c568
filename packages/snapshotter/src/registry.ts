/**
 * Drivers by name (the `snapshotter/<name>` plugins). The service loads those its config names;
 * one that cannot run on this host is skipped with its reason, unless it was asked for by name.
 */
import type { DriverRegistration } from './drivers/driver';

const registrations = new Map<string, DriverRegistration>();

export function registerDriver(registration: DriverRegistration): void {
  if (registrations.has(registration.name)) throw new Error(`snapshotter driver "${registration.name}" registered twice`);
  registrations.set(registration.name, registration);
}

export function driverRegistration(name: string): DriverRegistration | undefined {
  return registrations.get(name);
}

export function registeredDrivers(): string[] {
  return [...registrations.keys()];
}

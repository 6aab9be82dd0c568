/** Tasks: running containers through runtime-native's shim (containerd.services.tasks.v1). */
export * from './tasks';
export { TaskManager, createTaskManager, type TaskManagerOptions } from './manager';
export type { LogOptions } from './logs';
export { tasksRegistration } from './grpc';
export { attachRegistration } from './attach-grpc';

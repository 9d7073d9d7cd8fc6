// The one logger shape the gateway's modules write to: pino's, narrowed to what they call, so tests
// can pass a collecting logger and modules never depend on pino itself.

export interface GatewayLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: GatewayLogger = { debug() {}, info() {}, warn() {}, error() {} };

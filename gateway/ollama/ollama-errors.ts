// Errors on the Ollama routes: Ollama's `{"error": "message"}` with the catalogue's HTTP status,
// in Ollama's wording where it has one (server/routes.go, server/sched.go), else the gateway's own
// message. Errors the translation itself finds are GatewayErrors too, so one handler renders all.

import { errors, type GatewayError } from '../errors.js';
import { shown } from '../http/body-model.js';

/** Ollama's routes all live under /api/ (the Ollama port's other routes keep their own shape). */
export function isOllamaPath(path: string): boolean {
  return path.startsWith('/api/') || path === '/api';
}

export function ollamaErrorBody(err: GatewayError): { error: string } {
  return { error: ollamaMessage(err) };
}

function ollamaMessage(err: GatewayError): string {
  switch (err.code) {
    case 'queue_full':
      // server/sched.go ErrMaxQueue, then why.
      return `server busy, please try again.  maximum pending requests exceeded (${err.message})`;
    case 'invalid_api_key':
    case 'invalid_admin_token':
      return `unauthorized: ${err.message}`;
    default:
      return err.message;
  }
}

/** A model the request names that is not configured (Ollama's own wording). */
export function ollamaModelNotFound(name: string): GatewayError {
  return errors.ollamaModelNotFound(shown(name));
}

/**
 * `ollama pull` of a model that is not configured: pulling cannot help, the gateway serves the
 * models of its config file. Says where to add it.
 */
export function ollamaPullNotConfigured(name: string, configPath: string | null): GatewayError {
  return errors.ollamaPullNotConfigured(shown(name), configPath ? `under models: in ${configPath}` : 'under models: in the config file');
}

/** A request the Ollama routes cannot read or map (400, Ollama's shape). */
export function ollamaBadRequest(message: string): GatewayError {
  return errors.ollamaBadRequest(message);
}

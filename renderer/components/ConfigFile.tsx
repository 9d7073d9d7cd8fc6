// The config file the gateway loaded, named where the dashboard says what to edit.
import type { ReactElement } from 'react';

export function ConfigFile({ path }: { path: string | null | undefined }): ReactElement {
  return path ? <code className="config-path">{path}</code> : <>the config file</>;
}

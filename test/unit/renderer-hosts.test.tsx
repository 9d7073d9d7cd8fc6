// @vitest-environment jsdom
// The dashboard with remote hosts (docs/hosts.md): GPU bars grouped by host under the host's
// name and state; a model's segment only on its own host's GPU (indices repeat across hosts).
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../renderer/App.js';
import { hostsStatus } from '../e2e/sample-status.js';
import { FakeApi } from './renderer-fake-api.js';

afterEach(cleanup);

describe('dashboard with remote hosts', () => {
  it("groups GPU bars by host, shows each host's state and why one is unreachable", async () => {
    const doc = hostsStatus();
    render(<App api={new FakeApi(doc)} />);
    const local = await screen.findByRole('region', { name: 'local' });
    const a = screen.getByRole('region', { name: 'gpu-a' });
    const b = screen.getByRole('region', { name: 'gpu-b' });
    expect(within(local).getAllByRole('meter')).toHaveLength(1);
    expect(within(a).getAllByRole('meter')).toHaveLength(1);
    expect(within(b).queryAllByRole('meter')).toHaveLength(0);
    within(b).getByText('unreachable');
    within(b).getByText('nothing accepts ssh connections on root@10.0.0.6');
    within(b).getByText('No GPUs while the host is away.');
    within(a).getByText('connected');

    // GPU 0 of each host carries only that host's models.
    const segs = (region: HTMLElement) => [...region.querySelectorAll('[data-model]')].map((e) => e.getAttribute('data-model')).sort();
    const onA = doc.models.filter((m) => m.host === 'gpu-a').map((m) => m.id);
    const onLocal = doc.models.filter((m) => m.host === 'local').map((m) => m.id);
    expect(onA.length).toBeGreaterThan(0);
    expect(segs(a).every((id) => onA.includes(id!))).toBe(true);
    expect(segs(local).every((id) => onLocal.includes(id!))).toBe(true);
    expect(segs(a).length + segs(local).length).toBeGreaterThan(0);
  });

  it('each model card names the host it runs on beside its GPUs', async () => {
    const doc = hostsStatus();
    render(<App api={new FakeApi(doc)} />);
    const onA = doc.models.find((m) => m.host === 'gpu-a')!;
    const card = await screen.findByRole('group', { name: onA.id });
    within(card).getByText('Host · GPU');
    expect(within(card).getByTitle(`GPU ${onA.gpus.join(', ')} on host gpu-a`).textContent).toBe(`gpu-a · ${onA.gpus.join(', ')}`);
  });
});

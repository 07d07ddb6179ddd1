import { describe, expect, it } from 'vitest';
import type { DeployEvent } from '../events/events.ts';
import { escapeValue, problemIdentity, serviceMessage, teamcityReporter } from './teamcity.ts';

describe('TeamCity service messages', () => {
  it('escape what TeamCity requires', () => {
    expect(escapeValue(`it's [v2] | done\nnext\r\u2028`)).toBe(`it|'s |[v2|] || done|nnext|r|0x2028`);
    expect(serviceMessage('setParameter', { name: 'baton.deployed.image', value: "r:5000/app:v2'" })).toBe(
      `##teamcity[setParameter name='baton.deployed.image' value='r:5000/app:v2|'']`,
    );
  });

  it('give a failure the same short identity in every build', () => {
    expect(problemIdentity('integration', 'app-1', 'rolled-back')).toBe(
      problemIdentity('integration', 'app-1', 'rolled-back'),
    );
    expect(problemIdentity('integration', 'app-1', 'rolled-back')).not.toBe(
      problemIdentity('integration', 'app-2', 'rolled-back'),
    );
    expect(problemIdentity('x').length).toBeLessThanOrEqual(60);
  });

  it('open a block per batch and per host, with the host as flowId', () => {
    let out = '';
    const report = teamcityReporter({ write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream);
    const events: DeployEvent[] = [
      {
        type: 'run-started',
        playbook: 'deploy',
        image: 'app:v2',
        deployment: 'integration',
        hosts: ['a'],
        batches: [['a']],
        preTasks: [],
        steps: ['deregister'],
        check: false,
      },
      { type: 'batch', index: 1, of: 1, hosts: ['a'], status: 'started' },
      { type: 'step', scope: 'host', host: 'a', step: 'deregister', status: 'started' },
      { type: 'step', scope: 'host', host: 'a', step: 'deregister', status: 'failed', ms: 5, detail: 'timed out' },
      {
        type: 'host-finished',
        host: 'a',
        result: 'rolled-back',
        oldImage: 'app:v1',
        newImage: 'app:v2',
        outOfServiceMs: 1200,
        error: 'timed out\nmore',
      },
      { type: 'batch', index: 1, of: 1, hosts: ['a'], status: 'finished' },
      {
        type: 'run-finished',
        outcome: 'rolled-back',
        exitCode: 1,
        ms: 3000,
        hosts: [{ host: 'a', result: 'rolled-back', oldImage: 'app:v1', newImage: 'app:v2', outOfServiceMs: 1200 }],
        maxRssKb: 1,
      },
    ];
    for (const e of events) report({ ...e, at: 0 });
    const names = out
      .split('\n')
      .filter((l) => l.startsWith('##teamcity['))
      .map((l) => l.slice(11).split(' ')[0]!.replace(']', ''));
    expect(names).toEqual([
      'message',
      'blockOpened',
      'blockOpened',
      'message',
      'message',
      'message',
      'blockClosed',
      'buildProblem',
      'blockClosed',
      'buildStatisticValue',
      'buildStatisticValue',
      'message',
      'buildStatus',
    ]);
    expect(out).toContain(`##teamcity[blockOpened name='a' flowId='a'`);
    expect(out).toContain(`##teamcity[buildProblem description='a: rolled-back: timed out' identity='baton_`);
    expect(out).toContain(
      `##teamcity[buildStatus text='{build.status.text}; rolled-back app:v2 to integration: 0/1 hosts (exit 1)']`,
    );
  });

  it('make a tripped gate a build problem of its own, named by what tripped it, the same in every build', () => {
    const outputs = ['2026-12-08T00:48:19Z', '2026-12-09T10:00:00Z'].map((since) => {
      let out = '';
      const report = teamcityReporter({ write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream);
      report({
        type: 'run-started',
        playbook: 'deploy',
        image: 'app:v2',
        deployment: 'prod',
        hosts: ['a', 'b'],
        batches: [['a'], ['b']],
        preTasks: [],
        steps: [],
        check: false,
        at: 0,
      });
      report({
        type: 'gate-tripped',
        batch: 1,
        of: 2,
        hosts: ['a'],
        reason: `alarm api-5xx is in ALARM since ${since} (5xx > 1%)`,
        subject: 'api-5xx',
        at: 0,
      });
      return out;
    });
    for (const out of outputs) {
      expect(out).toContain(
        `##teamcity[message text='the gate tripped after batch 1/2 (a): alarm api-5xx is in ALARM since`,
      );
      expect(out).toContain(`status='WARNING'`);
    }
    const identity = (out: string) => /buildProblem description='[^']*' identity='([^']+)'/.exec(out)?.[1];
    expect(identity(outputs[0]!)).toBe(problemIdentity('prod', 'gate', 'api-5xx'));
    expect(identity(outputs[0]!)).toBe(identity(outputs[1]!));
  });

  it('never let a host name from outside start a message of its own, in any line', () => {
    let out = '';
    const report = teamcityReporter({
      write: (text: string) => ((out += text), true),
    } as unknown as NodeJS.WritableStream);
    const evil = "web-1\n##teamcity[setParameter name='baton.deployed.image' value='attacker/img:1']";
    const events: DeployEvent[] = [
      {
        type: 'run-started',
        playbook: 'deploy',
        image: 'app:v2',
        deployment: 'integration',
        hosts: [evil],
        batches: [[evil]],
        preTasks: [],
        steps: ['deregister'],
        check: false,
      },
      { type: 'batch', index: 1, of: 1, hosts: [evil], status: 'started' },
      { type: 'step', scope: 'host', host: evil, step: 'deregister', status: 'started' },
      { type: 'step', scope: 'host', host: evil, step: 'deregister', status: 'ok', ms: 5, detail: evil },
      {
        type: 'host-finished',
        host: evil,
        result: 'deployed',
        oldImage: 'app:v1',
        newImage: 'app:v2',
        outOfServiceMs: 1200,
      },
      { type: 'batch', index: 1, of: 1, hosts: [evil], status: 'finished' },
      { type: 'warning', message: evil },
      {
        type: 'run-finished',
        outcome: 'deployed',
        exitCode: 0,
        ms: 3000,
        hosts: [{ host: evil, result: 'deployed', oldImage: 'app:v1', newImage: 'app:v2', outOfServiceMs: 1200 }],
        maxRssKb: 1,
      },
    ];
    for (const e of events) report({ ...e, at: 0 });
    // Every line is one of Baton's messages: none starts with text from the host name.
    for (const line of out.split('\n').filter(Boolean))
      expect(line).toMatch(
        /^##teamcity\[(message|blockOpened|blockClosed|progressMessage|buildStatisticValue|setParameter|buildStatus|buildProblem)[ \]]/,
      );
    const parameters = out.split('\n').filter((l) => l.startsWith('##teamcity[setParameter'));
    expect(parameters).toEqual([`##teamcity[setParameter name='baton.deployed.image' value='app:v2']`]);
  });
});

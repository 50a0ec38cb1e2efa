// The real SDK library called from TypeScript: ubrn's Node.js (N-API) flavour of the same
// generated bindings the React Native package ships, walking the tutorial against the regtest
// harness (`qtum-regtest`, a process of its own): two nodes, fund, open, wait for the
// confirmations, a 1-satoshi invoice paid, close, funds back on chain. Run by
// scripts/test-react-native.sh; exits non-zero on the first failed check.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  Builder,
  Event_Tags,
  Network,
  PaymentStatus,
  RpcAuth,
  WordCount,
  defaultConfig,
  generateMnemonic,
  rpcChainSource,
  type Event,
  type NodeLike,
} from './generated/index';

const root = process.env.REPO_ROOT ?? join(import.meta.dirname, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** JSON of SDK values (u64 fields are bigints). */
const show = (v: unknown) =>
  JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!(await done())) {
    assert.ok(Date.now() < deadline, `gave up waiting for: ${what}`);
    await sleep(200);
  }
}

/** The next event matching `matches`, acknowledging those before it. */
async function nextEvent(node: NodeLike, matches: (e: Event) => boolean): Promise<Event> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    assert.ok(Date.now() < deadline, 'no matching event');
    const event = await node.nextEventAsync(1_000n);
    if (event === undefined) {
      continue;
    }
    await node.eventHandledAsync();
    if (matches(event)) {
      return event;
    }
  }
}

async function main(): Promise<void> {
  const rpcPort = await freePort();
  const harness = spawn(join(targetDir, 'debug', 'qtum-regtest'), [
    '--rpcport', String(rpcPort), '--rpcuser', 'u', '--rpcpassword', 'p',
  ], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${rpcPort}`;
  const rpc = async (method: string, params: unknown[]): Promise<unknown> => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
      body: JSON.stringify({ jsonrpc: '1.0', id: 1, method, params }),
    });
    const body = (await r.json()) as { result: unknown; error: unknown };
    assert.equal(body.error, null, `${method}: ${JSON.stringify(body.error)}`);
    return body.result;
  };
  try {
    await waitUntil('harness up', async () => {
      try {
        await rpc('getblockcount', []);
        return true;
      } catch {
        return false;
      }
    });

    const dir = mkdtempSync(join(tmpdir(), 'qtum-ln-node-test-'));
    const start = async (name: string, port: number): Promise<NodeLike> => {
      const config = defaultConfig(
        Network.Regtest,
        join(dir, name),
        rpcChainSource(url, new RpcAuth.UserPass({ user: 'u', password: 'p' })),
      );
      config.listeningAddresses = [`127.0.0.1:${port}`];
      config.syncIntervalSecs = 1n;
      config.ourToSelfDelayBlocks = 5_400;
      const builder = new Builder(config);
      builder.setEntropyMnemonic(generateMnemonic(WordCount.Words12), undefined);
      const node = await builder.buildAsync();
      builder.uniffiDestroy();
      await node.startAsync();
      return node;
    };
    const alice = await start('alice', await freePort());
    const bob = await start('bob', await freePort());
    const bobUri = bob.nodeUri();
    assert.ok(bobUri !== undefined && bobUri.startsWith(bob.nodeId()), `bob's URI: ${bobUri}`);

    // Fund alice: a coinbase to her address, matured.
    const aliceAddress = await alice.newAddressAsync();
    const mineTo = await bob.newAddressAsync();
    await rpc('generatetoaddress', [1, aliceAddress]);
    await rpc('generatetoaddress', [2_000, mineTo]);
    await waitUntil('alice funded', async () => {
      await alice.syncAsync();
      return (await alice.onchainBalanceAsync()).spendableSat > 10_000_000n;
    });

    // Open 0.1 QTUM to bob by his URI, mine until usable on both sides.
    await alice.openChannelAsync(bobUri, 10_000_000n, undefined, false);
    await waitUntil('funding broadcast', async () =>
      (await alice.listChannelsAsync()).some((c) => c.fundingTxo !== undefined));
    await waitUntil('channel usable', async () => {
      await rpc('generatetoaddress', [1, mineTo]);
      const a = await alice.listChannelsAsync();
      const b = await bob.listChannelsAsync();
      return a.some((c) => c.isUsable) && b.some((c) => c.isUsable);
    });

    // The tutorial's 1-satoshi invoice, paid; the outcome arrives as an event.
    const invoice = await bob.receiveAsync(1_000n, '1 satoshi', undefined);
    assert.ok(invoice.startsWith('lnqcrt'), invoice);
    const preview = await alice.decodeInvoiceAsync(invoice);
    assert.equal(preview.amountMsat, 1_000n);
    const paymentId = await alice.sendAsync(invoice, undefined);
    const outcome = await nextEvent(alice, (e) =>
      (e.tag === Event_Tags.PaymentSuccessful || e.tag === Event_Tags.PaymentFailed) &&
      e.inner.paymentId === paymentId);
    assert.equal(outcome.tag, Event_Tags.PaymentSuccessful, show(outcome));
    const received = await nextEvent(bob, (e) => e.tag === Event_Tags.PaymentReceived);
    assert.ok(received.tag === Event_Tags.PaymentReceived && received.inner.amountMsat === 1_000n);
    const details = await alice.paymentAsync(paymentId);
    assert.equal(details?.status, PaymentStatus.Succeeded);

    // A typed error crosses as an exception and changes nothing.
    await assert.rejects(alice.closeChannelAsync('00'.repeat(32)));

    // Close; alice's share comes back on chain.
    const before = (await alice.onchainBalanceAsync()).totalSat;
    const [channel] = await alice.listChannelsAsync();
    assert.ok(channel !== undefined);
    await alice.closeChannelAsync(channel.channelId);
    await waitUntil('funds back on chain', async () => {
      await rpc('generatetoaddress', [1, mineTo]);
      const now = await alice.onchainBalanceAsync();
      return (await alice.listChannelsAsync()).length === 0 && now.totalSat > before;
    });

    await alice.stopAsync();
    await bob.stopAsync();
    alice.uniffiDestroy();
    bob.uniffiDestroy();
    console.log('node-test: the tutorial journey passed through the TypeScript bindings');
  } finally {
    harness.kill();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// The example app's one screen: the tutorial's journey, a button per step. Every call is
// asynchronous (the node works on its own threads), events arrive through `events()`, and the
// node is stopped when the screen goes away. Drop it into an app created with
// `npx @react-native-community/cli init` after `npm install react-native-qtum-lightning`.

import { useCallback, useEffect, useRef, useState } from 'react';
import { Button, ScrollView, Text, TextInput, View } from 'react-native';

import {
  Network,
  QtumEventTags,
  RpcAuth,
  WordCount,
  createNode,
  defaultConfig,
  events,
  generateMnemonic,
  rpcChainSource,
  type QtumEvent,
  type QtumNode,
} from '../src/QtumLightning';

type Props = {
  /** Where the node keeps its database (the app's files directory). */
  storageDir: string;
  /** A Qtum regtest node's RPC, e.g. http://10.0.2.2:13889 from the Android emulator. */
  rpcUrl: string;
};

function describe(event: QtumEvent): string {
  switch (event.tag) {
    case QtumEventTags.ChannelPending:
      return 'channel pending: waiting for confirmations';
    case QtumEventTags.ChannelReady:
      return `channel ready: ${event.inner.channelId}`;
    case QtumEventTags.PaymentReceived:
      return `received ${event.inner.amountMsat} msat`;
    case QtumEventTags.PaymentSuccessful:
      return `paid (fee ${event.inner.feePaidMsat ?? 0n} msat)`;
    case QtumEventTags.PaymentFailed:
      return `payment failed: ${event.inner.reason}`;
    case QtumEventTags.ChannelClosed:
      return `channel closed: ${event.inner.reason}`;
    default:
      return event.tag;
  }
}

export function TutorialScreen({ storageDir, rpcUrl }: Props) {
  const node = useRef<QtumNode | undefined>(undefined);
  const [log, setLog] = useState<string[]>([]);
  const [peerUri, setPeerUri] = useState('');
  const [invoice, setInvoice] = useState('');
  const say = useCallback((line: string) => setLog((l) => [...l, line]), []);

  // Stop the node and the event loop when the screen goes away.
  useEffect(() => {
    const abort = new AbortController();
    return () => {
      abort.abort();
      const n = node.current;
      node.current = undefined;
      if (n !== undefined) {
        void n.stopAsync().finally(() => n.uniffiDestroy());
      }
    };
  }, []);

  // A step: runs, shows its outcome or its typed error, never throws into React.
  const step = (name: string, run: (n: QtumNode) => Promise<string>) => async () => {
    const n = node.current;
    if (n === undefined) {
      say('start the node first');
      return;
    }
    try {
      say(`${name}: ${await run(n)}`);
    } catch (e) {
      say(`${name} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const start = async () => {
    try {
      const config = defaultConfig(
        Network.Regtest,
        storageDir,
        rpcChainSource(rpcUrl, new RpcAuth.UserPass({ user: 'u', password: 'p' })),
      );
      // A real wallet stores the phrase in the platform's keystore and shows it once.
      const n = await createNode(config, generateMnemonic(WordCount.Words12));
      await n.startAsync();
      node.current = n;
      say(`started: ${n.nodeId()}`);
      void (async () => {
        for await (const event of events(n)) {
          say(describe(event));
        }
      })();
    } catch (e) {
      say(`start failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  return (
    <ScrollView>
      <Button title="1. Start the node" onPress={start} />
      <Button title="2. New address (fund it)" onPress={step('address', (n) => n.newAddressAsync())} />
      <TextInput placeholder="peer: pubkey@host:port" value={peerUri} onChangeText={setPeerUri} />
      <Button
        title="3. Open a 0.1 QTUM channel"
        onPress={step('open', async (n) => {
          await n.openChannelAsync(peerUri, 10_000_000n, undefined, false);
          return 'funding broadcast; wait for ChannelReady';
        })}
      />
      <Button
        title="4. Invoice for 1 satoshi"
        onPress={step('invoice', (n) => n.receiveAsync(1_000n, '1 satoshi', undefined))}
      />
      <TextInput placeholder="invoice to pay: lnqcrt…" value={invoice} onChangeText={setInvoice} />
      <Button title="5. Pay" onPress={step('pay', (n) => n.sendAsync(invoice, undefined))} />
      <Button
        title="6. Close channels"
        onPress={step('close', async (n) => {
          const channels = await n.listChannelsAsync();
          await Promise.all(channels.map((c) => n.closeChannelAsync(c.channelId)));
          return `${channels.length} closing`;
        })}
      />
      <Button
        title="Balances"
        onPress={step('balances', async (n) => {
          const b = await n.balancesAsync();
          return `${b.totalSat} sat (${b.lightningSat} in channels)`;
        })}
      />
      <View>
        {log.map((line, i) => (
          <Text key={i}>{line}</Text>
        ))}
      </View>
    </ScrollView>
  );
}

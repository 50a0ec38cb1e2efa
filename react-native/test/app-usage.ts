// Type-checked by `tsc --noEmit` (scripts/test-react-native.sh): the package used as a wallet
// app would, the tutorial's journey end to end. It is compiled, not run here (it needs a device);
// react-native/node-test runs the same calls against the real library under Node.js.

import {
  Network,
  QtumEventTags,
  RpcAuth,
  WordCount,
  createNode,
  defaultConfig,
  events,
  generateMnemonic,
  isEvent,
  jitQuoteFee,
  rpcChainSource,
  validateMnemonic,
  type Config,
  type PaymentDetails,
  type QtumEvent,
  type QtumNode,
} from '../src/QtumLightning';

export async function tutorial(peerUri: string, invoiceFromPeer: string): Promise<PaymentDetails> {
  const mnemonic = generateMnemonic(WordCount.Words12);
  validateMnemonic(mnemonic);
  const config = defaultConfig(
    Network.Regtest,
    '/data/user/0/org.example.wallet/files/qtum',
    rpcChainSource('http://10.0.2.2:13889', new RpcAuth.UserPass({ user: 'u', password: 'p' })),
  );
  const node: QtumNode = await createNode(config, mnemonic);
  await node.startAsync();
  const uri: string | undefined = node.nodeUri();
  void uri;

  const address: string = await node.newAddressAsync();
  void address;
  // u64 amounts are bigints: 0.1 QTUM.
  await node.openChannelAsync(peerUri, 10_000_000n, undefined, false);
  const invoice: string = await node.receiveAsync(1_000n, '1 satoshi', undefined);
  void invoice;
  const paymentId = await node.sendAsync(invoiceFromPeer, undefined);

  const abort = new AbortController();
  let outcome: PaymentDetails | undefined;
  for await (const event of events(node, abort.signal)) {
    if (isEvent(event, QtumEventTags.PaymentSuccessful) && event.inner.paymentId === paymentId) {
      outcome = await node.paymentAsync(paymentId);
      abort.abort();
    }
    describe(event);
  }
  const channels = await node.listChannelsAsync();
  for (const channel of channels) {
    await node.closeChannelAsync(channel.channelId);
  }
  await node.stopAsync();
  node.uniffiDestroy();
  if (outcome === undefined) {
    throw new Error('no outcome');
  }
  return outcome;
}

// A phone restored from its words alone, with no backup: the wallet comes back from the seed;
// recovery finds this node's share of each former peer's force close and sweeps it home.
export async function restoreWithoutBackup(
  config: Config,
  mnemonic: string,
  formerPeers: string[],
): Promise<string> {
  const node: QtumNode = await createNode(config, mnemonic);
  await node.startAsync();
  const report = await node.startChannelRecoveryAsync();
  // Each peer that still has a channel with us force-closes when we connect.
  for (const uri of formerPeers) {
    await node.connectAsync(uri, true);
  }
  const abort = new AbortController();
  let foundSat = 0n;
  for await (const event of events(node, abort.signal)) {
    if (isEvent(event, QtumEventTags.ChannelFundsRecovered)) {
      const amount: bigint = event.inner.amountSat;
      foundSat += amount;
      abort.abort();
    }
  }
  const now = await node.channelRecoveryAsync();
  const outpoints: string[] = (now?.found ?? []).map((f) => f.outpoint);
  await node.stopChannelRecoveryAsync();
  await node.stopAsync();
  node.uniffiDestroy();
  // What the user is shown: what came back, and what cannot.
  return `${report.notice} Found ${foundSat} sat in ${outpoints.length} close(s).`;
}

// A new wallet's first payment: the LSP opens a channel when it arrives. The fee is shown
// before buying, and the invoice refuses a fee above what the user saw.
export async function receiveFirstPayment(
  config: Config,
  mnemonic: string,
  lspUri: string,
  amountMsat: bigint,
): Promise<string> {
  const node: QtumNode = await createNode(config, mnemonic, undefined, undefined, {
    uri: lspUri,
    token: 'app-token',
    trustZeroConf: true,
  });
  await node.startAsync();
  const quote = await node.jitChannelQuoteAsync();
  const fee: bigint | undefined = jitQuoteFee(quote, amountMsat);
  if (fee === undefined || amountMsat > quote.maxPaymentMsat) {
    throw new Error('the provider cannot take this amount');
  }
  const jit = await node.receiveViaJitChannelAsync(amountMsat, 'first payment', undefined, fee);
  await node.registerWebhookAsync('wallet', 'https://push.example/qtum/7f3a');
  const abort = new AbortController();
  let paidFee = 0n;
  for await (const event of events(node, abort.signal)) {
    if (isEvent(event, QtumEventTags.JitChannelOpened)) {
      paidFee = event.inner.openingFeeMsat;
    }
    if (isEvent(event, QtumEventTags.PaymentReceived)) {
      abort.abort();
    }
  }
  await node.stopAsync();
  node.uniffiDestroy();
  return `${jit.invoice} paid; the provider kept ${paidFee} msat`;
}

function describe(event: QtumEvent): string {
  switch (event.tag) {
    case QtumEventTags.ChannelReady:
      return `channel ${event.inner.channelId} ready`;
    case QtumEventTags.PaymentReceived:
      return `received ${event.inner.amountMsat} msat`;
    default:
      return event.tag;
  }
}

// What the package does not let an app do on the JS thread: each line must stay a type error.
export function blockingCallsAreNotOffered(node: QtumNode): void {
  // @ts-expect-error start() blocks until the node runs: use startAsync().
  node.start();
  // @ts-expect-error listChannels() takes LDK's locks: use listChannelsAsync().
  node.listChannels();
  // @ts-expect-error a synchronous foreign callback would block the node's thread: use events().
  node.setEventListener(undefined);
  // @ts-expect-error waitNextEvent() blocks: use events() or nextEventAsync().
  node.waitNextEvent(1000n);
  // @ts-expect-error startChannelRecovery() writes to the database: use the async call.
  node.startChannelRecovery();
}

// The package's public API: the generated bindings, narrowed to what is safe on React Native's
// JavaScript thread.
//
// - Every call that can block (I/O, LDK's locks, waiting) is offered only as its `*Async` twin:
//   the SDK runs it on its own call pool and the promise resolves on the JS thread, so the UI
//   never waits on the node. `QtumNode` is the node's type without the blocking methods (they
//   exist at run time, but TypeScript refuses a call to them); `nodeId`, `network` and `nodeUri`
//   stay synchronous: they read memory only.
// - Events come from `events(node)`, an async iterator over the node's persisted queue (each
//   event is acknowledged when the loop asks for the next one). The SDK's synchronous
//   `EventListener` and `LogWriter` callbacks are not exported: on React Native a synchronous
//   foreign callback would make the node's thread wait for the JS thread. Logs go to logcat and
//   os_log.
// - `Node` and `Event` are also DOM and React Native global names; the generated module exports
//   them at module scope, and this API names them `QtumNode` and `QtumEvent` so an app never has
//   to shadow a global.
//
// The complete generated API stays importable from 'react-native-qtum-lightning/src/index' for
// the rare app that needs the rest (and takes on its threading rules).

import { Builder, Event_Tags, type Config, type Event, type NodeLike } from './index';

export {
  ChainSourceConfig,
  CloseKind,
  Event_Tags as QtumEventTags,
  Network,
  PaymentDirection,
  PaymentFailureKind,
  PaymentKind,
  PaymentStatus,
  RpcAuth,
  WordCount,
  defaultConfig,
  esploraChainSource,
  generateMnemonic,
  jitQuoteFee,
  parseNodeUri,
  rpcChainSource,
  validateMnemonic,
} from './index';
export type {
  Balances,
  ChannelInfo,
  Config,
  InvoicePreview,
  JitInvoice,
  JitQuote,
  NodeStatus,
  OnchainBalance,
  PaymentDetails,
  PaymentId,
  PeerInfo,
  PublicKey,
  SendOptions,
} from './index';

/** The SDK's event (a tagged union: switch on `event.tag`). */
export type QtumEvent = Event;

/** The names of the node's methods that return a promise. */
type AsyncMethods<T> = {
  [K in keyof T]: K extends `${string}Async` ? K : never;
}[keyof T];

/** A node as a React Native app uses it: the non-blocking calls only. */
export type QtumNode = Pick<NodeLike, AsyncMethods<NodeLike> | 'nodeId' | 'network' | 'nodeUri'> & {
  /** Frees the node's native side now instead of at garbage collection (after `stopAsync`). */
  uniffiDestroy(): void;
};

/**
 * A liquidity provider (LSP) to buy just-in-time channels from: `uri` is `pubkey@host:port`,
 * `token` what the provider asks of its clients. `trustZeroConf` lets its channels be used
 * before their funding confirms (the provider could double-spend it until then).
 */
export interface LiquiditySource {
  uri: string;
  token?: string;
  trustZeroConf: boolean;
}

/**
 * Builds a node from `config` and a BIP 39 `mnemonic` (keys never leave the device), off the JS
 * thread. Start it with `startAsync()`. With `liquidity`, `receiveViaJitChannelAsync` can be paid
 * before the node has any channel.
 */
export async function createNode(
  config: Config,
  mnemonic: string,
  passphrase?: string,
  signal?: AbortSignal,
  liquidity?: LiquiditySource,
): Promise<QtumNode> {
  const builder = new Builder(config);
  try {
    builder.setEntropyMnemonic(mnemonic, passphrase);
    if (liquidity) {
      builder.setLiquiditySource(liquidity.uri, liquidity.token, liquidity.trustZeroConf);
    }
    const node = await builder.buildAsync(signal ? { signal } : undefined);
    return node as unknown as QtumNode;
  } finally {
    builder.uniffiDestroy();
  }
}

/**
 * The node's events, in order, across restarts: `for await (const e of events(node, signal))`.
 * An event stays queued until the loop asks for the next one, so an app killed while handling
 * an event sees it again. Ends when `signal` aborts (the wait in the SDK ends within half a
 * second).
 */
export async function* events(
  node: QtumNode,
  signal?: AbortSignal,
): AsyncGenerator<QtumEvent, void, undefined> {
  while (!signal?.aborted) {
    let event: QtumEvent | undefined;
    try {
      event = await node.nextEventAsync(1_000n, signal ? { signal } : undefined);
    } catch (e) {
      if (signal?.aborted) {
        return;
      }
      throw e;
    }
    if (event === undefined) {
      continue;
    }
    yield event;
    await node.eventHandledAsync();
  }
}

/** Whether `event` is of kind `tag`, narrowing its type. */
export function isEvent<T extends Event_Tags>(
  event: QtumEvent,
  tag: T,
): event is Extract<QtumEvent, { tag: T }> {
  return event.tag === tag;
}

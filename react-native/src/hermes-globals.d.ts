// Globals that Hermes (React Native's JavaScript engine, 0.74 and later) provides and that the
// generated bindings use to turn strings into UTF-8 and back. Declared here because a React
// Native tsconfig has no DOM library.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer): string;
}

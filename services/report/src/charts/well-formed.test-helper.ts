// Test-only: a strict enough well-formedness check for the SVG and HTML the chart code builds.

const VOID = new Set(['br', 'img', 'input', 'meta', 'link', 'hr']);

/** Throws when tags do not nest, a `<` or `&` is stray in text, or an attribute value is unquoted. */
export function assertWellFormed(markup: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < markup.length) {
    const lt = markup.indexOf('<', i);
    const text = markup.slice(i, lt === -1 ? markup.length : lt);
    if (/&(?![a-zA-Z]+;|#x?[0-9a-fA-F]+;)/.test(text)) throw new Error(`stray & in "${text.slice(0, 40)}"`);
    if (/>/.test(text)) throw new Error(`stray > in "${text.slice(0, 40)}"`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(markup);
    if (!m) throw new Error(`malformed tag at ${lt}: ${markup.slice(lt, lt + 60)}`);
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClosing && !VOID.has(name!)) stack.push(name!);
    i = tag.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`);
}

// JSON.parse keeps only the last of two equal keys, so it cannot see a repeated one: this scanner
// walks the text itself and reports every key that occurs twice in the same object, at any depth.

interface Frame { keys: Set<string> | undefined; path: string; expectsKey: boolean }

/** The keys repeated within one object of `text` (one JSON document), each as `path.key`. */
export function repeatedKeys(text: string): string[] {
  const repeated: string[] = [];
  const frames: Frame[] = [];
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const top = frames.at(-1);
    if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (top?.keys !== undefined && top.expectsKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) repeated.push(`${top.path}${key}`);
        top.keys.add(key);
        top.expectsKey = false;
        lastKey = key;
      }
      i = end;
    } else if (char === '{' || char === '[') {
      const path = top === undefined ? '' : `${top.path}${top.keys === undefined ? '[]' : lastKey}.`;
      frames.push({ keys: char === '{' ? new Set() : undefined, path, expectsKey: char === '{' });
    } else if (char === '}' || char === ']') {
      frames.pop();
    } else if (char === ',' && top?.keys !== undefined) {
      top.expectsKey = true;
    }
  }
  return repeated;
}

import { describe, expect, test } from 'vitest';
import { keySequence, PHONE_KEYS, withCtrl } from './terminal-keys.ts';

describe('phone keys', () => {
  test('arrows follow the cursor-key mode full-screen programs set', () => {
    expect(keySequence('up', false)).toBe('\x1b[A');
    expect(keySequence('up', true)).toBe('\x1bOA');
    expect(keySequence('left', false)).toBe('\x1b[D');
    expect(keySequence('right', true)).toBe('\x1bOC');
    expect(keySequence('left', true, true)).toBe('\x1b[1;5D');
  });

  test('Esc, Tab and the symbols a phone keyboard hides', () => {
    expect(keySequence('esc', false)).toBe('\x1b');
    expect(keySequence('tab', false)).toBe('\t');
    expect(keySequence('pipe', false)).toBe('|');
    expect(keySequence('tilde', false)).toBe('~');
    expect(PHONE_KEYS.map((k) => k.key)).toEqual(expect.arrayContaining(['esc', 'tab', 'up', 'down', 'left', 'right', 'pipe', 'tilde']));
  });

  test('the sticky Ctrl turns the next letter into its control code', () => {
    expect(withCtrl('c')).toBe('\x03');
    expect(withCtrl('C')).toBe('\x03');
    expect(withCtrl('d')).toBe('\x04');
    expect(withCtrl('[')).toBe('\x1b');
    expect(withCtrl(' ')).toBe('\x00');
    expect(withCtrl('?')).toBe('\x7f');
    // Not a key Ctrl changes, or several characters at once (a paste): unchanged.
    expect(withCtrl('5')).toBe('5');
    expect(withCtrl('ls')).toBe('ls');
  });
});

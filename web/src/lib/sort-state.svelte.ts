// Which column a table is sorted by and in which direction, for the host-page panels: a click on
// the sorted column flips the direction, a click on another sorts by it ascending.

export class SortState<K extends string> {
  key: K;
  ascending = $state(true);

  constructor(key: K) {
    this.key = $state(key);
  }

  /** Sorts by `key`, or flips the direction when it is the column already sorted by. */
  toggle(key: K): void {
    if (this.key === key) this.ascending = !this.ascending;
    else {
      this.key = key;
      this.ascending = true;
    }
  }

  /** The column's aria-sort value. */
  aria(key: K): 'ascending' | 'descending' | 'none' {
    return this.key === key ? (this.ascending ? 'ascending' : 'descending') : 'none';
  }

  /** The arrow after the sorted column's label. */
  mark(key: K): string {
    return this.key === key ? (this.ascending ? ' ▲' : ' ▼') : '';
  }
}

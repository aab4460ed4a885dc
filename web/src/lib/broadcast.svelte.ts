// Typing once into several hosts' terminals (cssh, tmux's synchronize-panes): each terminal of a
// broadcast view joins the group with the function that sends to its own session; what is typed
// into any of them goes to every included member while broadcasting is on, and only to its own
// session while it is off. Resizes stay per terminal: each shell keeps the size of its pane.

export class BroadcastGroup {
  /** Typing goes to every included member. */
  on = $state(true);
  /** Hosts left out of broadcasting (they still get what is typed into their own pane). */
  excluded = $state<Record<string, boolean>>({});
  private readonly members = new Map<string, (bytes: Uint8Array) => void>();

  /** Adds a member; returns the function that removes it. */
  join(hostId: string, send: (bytes: Uint8Array) => void): () => void {
    this.members.set(hostId, send);
    return () => {
      if (this.members.get(hostId) === send) this.members.delete(hostId);
    };
  }

  /** Input typed into `from`'s pane. */
  type(from: string, bytes: Uint8Array): void {
    if (!this.on || this.excluded[from]) {
      this.members.get(from)?.(bytes);
      return;
    }
    for (const [id, send] of this.members) if (id === from || !this.excluded[id]) send(bytes);
  }

  /** How many members typing reaches now. */
  get reach(): number {
    return this.on ? [...this.members.keys()].filter((id) => !this.excluded[id]).length : 1;
  }
}

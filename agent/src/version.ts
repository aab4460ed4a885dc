// The agent's version, reported in facts and checked against packages later.
export const AGENT_VERSION = '0.1.0';

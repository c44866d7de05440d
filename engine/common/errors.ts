// Errors a person caused and can act on: bad input, a bad flag, a file that cannot be used. Hosts show the message as
// one line (the CLI exits 2); anything else is a bug.
export class InputError extends Error {
  override name = 'InputError';
}

/** A command line that does not parse: the CLI adds where its usage is ("(usage: gpt-lab train --help)"). */
export class UsageError extends InputError {
  override name = 'UsageError';
}

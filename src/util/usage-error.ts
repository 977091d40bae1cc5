// An error whose message is meant for the user as it is (a bad flag, a missing file): the CLI
// prints it without a stack trace; the service answers it as a client error.
export class CliError extends Error {}

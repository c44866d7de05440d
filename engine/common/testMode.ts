// Test hooks act only in an explicit test mode (GPTLAB_TEST_MODE=1, which the test suites set for the processes they
// start), never in a person's run: a stray GPTLAB_SELFCHECK_BREAK in a shell or an editor's environment does nothing.

/** The value of a test hook's environment variable in test mode; undefined otherwise. */
export function testHook(name: string): string | undefined {
  return process.env.GPTLAB_TEST_MODE === '1' ? process.env[name] : undefined;
}

// A beep generated with WebAudio (no audio file). Browsers only allow sound after a user
// gesture, so the page shows an "enable sound" button that creates the AudioContext.

let context = null;

/** Create/resume the audio context; call from a click handler. */
export async function enableSound() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return false;
  if (!context) context = new Ctx();
  if (context.state === "suspended") await context.resume();
  return context.state === "running";
}

/** Whether sound was enabled. */
export function soundEnabled() {
  return Boolean(context && context.state === "running");
}

/** Two short alternating tones, repeated `times` times. */
export function beep(times = 2) {
  if (!soundEnabled()) return;
  const start = context.currentTime + 0.02;
  for (let i = 0; i < times * 2; i++) {
    const at = start + i * 0.22;
    const osc = context.createOscillator();
    const gain = context.createGain();
    osc.type = "square";
    osc.frequency.value = i % 2 === 0 ? 988 : 740;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
    osc.connect(gain).connect(context.destination);
    osc.start(at);
    osc.stop(at + 0.2);
  }
}

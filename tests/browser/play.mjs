// Plays an HLS URL with hls.js in headless Chromium and reports what a viewer would see.
// Usage: node play.mjs URL [SEEK_SECONDS]  ->  one JSON line on stdout:
//   {"played": seconds advanced, "width", "height", "errors": [fatal hls.js errors],
//    "seeked": position after seeking (when asked), "duration"}
import { chromium } from 'playwright-core';
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const url = process.argv[2];
const seekTo = process.argv[3] ? Number(process.argv[3]) : null;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage();
  await page.setContent('<video id="v" muted playsinline></video>');
  await page.addScriptTag({ path: require.resolve('hls.js/dist/hls.min.js') });
  const result = await page.evaluate(async ({ url, seekTo }) => {
    const video = document.getElementById('v');
    const errors = [];
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    if (!Hls.isSupported()) return { errors: ['MSE not supported'] };
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) errors.push(d.details); });
    hls.loadSource(url);
    hls.attachMedia(video);
    await new Promise((r) => hls.on(Hls.Events.MANIFEST_PARSED, r));
    video.play().catch((e) => errors.push(String(e)));
    const waitPlaying = async (from, secs) => {
      for (let i = 0; i < 300 && !errors.length; i++) {
        if (video.currentTime >= from + secs) return true;
        await sleep(100);
      }
      return false;
    };
    const start = video.currentTime;
    await waitPlaying(start, 3);
    const out = { played: video.currentTime - start, width: video.videoWidth,
                  height: video.videoHeight, duration: video.duration, errors };
    if (seekTo !== null && !errors.length) {
      video.currentTime = seekTo;
      await new Promise((r) => video.addEventListener('seeked', r, { once: true }));
      await waitPlaying(seekTo, 1);
      out.seeked = video.currentTime;
    }
    hls.destroy();
    return out;
  }, { url, seekTo });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}

// e2e/docs-browser.mjs: drives the Swagger UI page like a person would (see
// docs-browser.sh, which starts the server and sets the environment).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("DOCS_BASE_URL");
const root = env("DOCS_ROOT_PATH");
const username = env("DOCS_USERNAME");
const password = env("DOCS_PASSWORD");
const screenshot = env("DOCS_SCREENSHOT");
const profile = env("DOCS_PROFILE");
mkdirSync(profile, { recursive: true });

const loopback = new Set(["127.0.0.1", "localhost", "[::1]"]);
const offHost = []; // requests to any other host: must stay empty
const pageErrors = [];
const step = (s) => console.log(`-- ${s}`);

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 1700 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
  ],
});
let failed = false;
try {
  context.on("request", (req) => {
    const u = new URL(req.url());
    if ((u.protocol === "http:" || u.protocol === "https:" || u.protocol === "ws:" || u.protocol === "wss:") && !loopback.has(u.hostname)) {
      offHost.push(req.url());
    }
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") pageErrors.push(`console: ${msg.text()}`);
  });
  page.setDefaultTimeout(15000);

  step(`open ${root}/docs`);
  const res = await page.goto(`${base}${root}/docs`);
  if (res.status() !== 200) throw new Error(`docs page answered ${res.status()}`);
  await page.locator(".swagger-ui .info .title").waitFor();
  const title = (await page.locator(".swagger-ui .info .title").innerText()).trim();
  if (!title.startsWith("ticketapi")) throw new Error(`page title is ${JSON.stringify(title)}`);
  for (const tag of ["Authentication", "User", "Employee", "Ticket"]) {
    await page.locator(`#operations-tag-${tag}`).waitFor();
  }

  step("Authorize with username and password");
  await page.locator(".scheme-container button.authorize").click();
  const dialog = page.locator(".dialog-ux .modal-ux");
  await dialog.waitFor();
  await dialog.locator("#oauth_username").fill(username);
  await dialog.locator("#oauth_password").fill(password);
  const tokenAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === `${root}/token`);
  await dialog.locator(".auth-btn-wrapper button.authorize").click();
  const token = await tokenAnswer;
  if (token.status() !== 200) throw new Error(`token request answered ${token.status()}: ${await token.text()}`);
  // Once authorized, the dialog says so and offers Logout instead of Authorize.
  await dialog.locator("h6", { hasText: "Authorized" }).waitFor();
  await dialog.locator(".auth-btn-wrapper button", { hasText: "Logout" }).waitFor();
  await dialog.locator(".auth-btn-wrapper button.btn-done").click();
  await dialog.waitFor({ state: "detached" });

  step("Try it out: GET /me");
  const op = page.locator("#operations-Authentication-readUsersMe");
  await op.locator(".opblock-summary").first().click();
  await op.locator("button.try-out__btn").click();
  const meAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === `${root}/me`);
  await op.locator("button.execute").click();
  const me = await meAnswer;
  const auth = await me.request().headerValue("authorization");
  if (!auth || !/^Bearer \S+$/.test(auth)) throw new Error(`GET /me was sent without a bearer token (${auth})`);

  // The "Server response" table: its row shows the status and the body.
  const row = op.locator(".live-responses-table tr.response").first();
  await row.waitFor();
  const status = (await row.locator(".response-col_status").innerText()).trim();
  const body = await row.locator(".response-col_description .highlight-code pre").first().innerText();
  if (status !== "200") throw new Error(`GET /me shows status ${status}: ${body}`);
  if (!body.includes(`"username": "${username}"`)) throw new Error(`GET /me response does not show "username": "${username}":\n${body}`);
  console.log(`GET /me answered ${status} with "username": "${username}"`);

  // From the top: the title, the locked Authorize button, and GET /me with its answer.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);

  if (offHost.length > 0) throw new Error(`requests left for other hosts:\n  ${offHost.join("\n  ")}`);
  if (pageErrors.length > 0) throw new Error(`the page reported errors:\n  ${pageErrors.join("\n  ")}`);
  console.log("docs page: authorize and Try it out work, no request left loopback");
} catch (err) {
  failed = true;
  console.error(`FAIL: ${err.message}`);
  try {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: screenshot, fullPage: true });
    // DOCS_DEBUG=1: also print the dialog's HTML, to fix a selector.
    if (page && process.env.DOCS_DEBUG) console.error((await page.locator(".dialog-ux").innerHTML()).slice(0, 6000));
    console.error(`screenshot of the failure: ${screenshot}`);
  } catch {}
} finally {
  await context.close();
}
process.exit(failed ? 1 : 0);

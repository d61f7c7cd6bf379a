// Login: the OAuth2 password form, then the landing page for the user's role.
import { $, api, currentLang, landingFor, saveToken, setLang, start, t } from "./core.js";

await start({ title: "login.title", anonymous: true });
const langSelect = $("#lang-login");
langSelect.value = currentLang();
langSelect.addEventListener("change", () => setLang(langSelect.value));

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("#login-error");
  err.hidden = true;
  try {
    const out = await api("/api/auth/token", { method: "POST", form: { username: $("#username").value, password: $("#password").value } });
    const landing = landingFor(out.role);
    if (!landing) {
      err.textContent = t("login.no_page");
      err.hidden = false;
      return;
    }
    saveToken(out.access_token, out.role);
    const next = new URLSearchParams(location.search).get("next");
    location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : landing);
  } catch (ex) {
    err.textContent = ex.status === 401 ? t("login.failed") : ex.message;
    err.hidden = false;
  }
});
$("#login-fields").disabled = false; // only now that Enter logs in through the API
$("#username").focus();

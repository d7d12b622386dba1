// The PBX the board shows (several PBXes in one deployment, PBXES): `?pbx=east` in the
// address. Every request and subscription sends it as the `$pbx` variable; with one
// PBX it is null (the server's only one). When the `pbxes` query lists more than one,
// a picker in the header switches PBX by changing the address (a reload: the board's
// state, subscriptions and access are all per PBX).

import { t } from './i18n.js';

const PBXES_QUERY = 'query WallboardPbxes { pbxes { name status amiConnected } }';

/** The PBX named in the address, or null. */
export function currentPbx() {
  return new URL(window.location.href).searchParams.get('pbx') || null;
}

/** `variables` with the board's PBX (an operation that does not declare `$pbx` ignores it). */
export function withPbx(variables) {
  return { ...(variables ?? {}), pbx: currentPbx() };
}

function keepInAddress(name) {
  const url = new URL(window.location.href);
  url.searchParams.set('pbx', name);
  window.history.replaceState(null, '', url);
}

/**
 * Ask which PBXes the token sees; with several, choose one (the address's, else the
 * first) and show the picker. Resolves once the PBX of every later request is known.
 * @param {Document} doc
 * @param {(query: string) => Promise<{data?: any}|null>} request
 */
export async function choosePbx(doc, request) {
  let pbxes = [];
  try {
    pbxes = (await request(PBXES_QUERY))?.data?.pbxes ?? [];
  } catch {
    return; // the server is away: the board shows that, and the address's PBX is kept
  }
  if (pbxes.length <= 1) return;
  const names = pbxes.map((pbx) => pbx.name);
  if (!names.includes(currentPbx())) keepInAddress(names[0]);
  const picker = doc.getElementById('pbx-picker');
  const select = doc.getElementById('pbx-select');
  if (!picker || !select) return;
  select.replaceChildren(
    ...pbxes.map((pbx) => {
      const option = doc.createElement('option');
      option.value = pbx.name;
      option.textContent = pbx.amiConnected ? pbx.name : t('pbx.amiDown', { name: pbx.name });
      option.selected = pbx.name === currentPbx();
      return option;
    }),
  );
  picker.hidden = false;
  select.addEventListener('change', () => {
    keepInAddress(select.value);
    window.location.reload();
  });
}

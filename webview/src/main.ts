/**
 * The experiment panel's UI. Its issue has not landed yet; this entry point
 * exists so the build, the CSP and the bundle layout are in place from the start.
 */
export const PANEL_READY = 'freezelens-panel-ready';

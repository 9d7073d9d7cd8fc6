import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { createGatewayApi, watchForTokenLink } from './api/create-api.js';
import './styles.css';

const api = createGatewayApi();
watchForTokenLink();
const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App api={api} />
    </StrictMode>,
  );
}

export {
  createMailer,
  PermanentMailError,
  type Mailer,
  type MailMessage,
  type SendResult,
} from './transport.ts';

export {
  createMailer,
  MailError,
  mailErrorCode,
  PermanentMailError,
  TemporaryMailError,
  type Mailer,
  type MailerOptions,
  type MailMessage,
  type SendResult,
} from './transport.ts';
export {
  isTemplateName,
  renderEmail,
  type RaterSurveysData,
  type RenderedEmail,
  type SurveyLink,
  type TemplateData,
  type TemplateName,
} from './templates.ts';
